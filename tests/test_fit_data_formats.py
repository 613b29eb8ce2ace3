"""`spindiff fit` data sets from spectrometer files (spindiff.fit.data_formats, bruker_data).

Each reader gets files written here with known times and values and must return them exactly
(to the digits written; the Bruker folder to the int32 rounding of its 2rr, 2^-28); each
malformed file gives one CaseError line naming the row and the line. The shipped example files
(cases/fit_example/data/) must give back the synthetic CSV curves they were made from.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import CASES
from spindiff.errors import CaseError
from spindiff.fit.data_formats import detect_format, read_dataset

DATA = CASES / "fit_example" / "data"
SCALE = 2.5e6


def _generator():
    spec = importlib.util.spec_from_file_location("make_spectrometer_data",
                                                  DATA / "make_spectrometer_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _read(path, **d):
    return read_dataset(Path(path), d, "datasets[x]", "fit.toml")


def _csv_curve(c):
    a = np.loadtxt(CASES / "fit_example" / f"buildup_{c}mM.csv", delimiter=",", skiprows=2)
    return a[:, 0], a[:, 1], a[:, 2]


def _one_line(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


# --- TopSpin T1/T2 export ----------------------------------------------------------------------

CT1T2 = """Dataset : /data/dnp/7/pdata/1
AREA fit :
I[t]=I[0]*(1-exp(-t/T1))

4 points for Integral 1, Integral Region from 12.000 to -2.000 ppm
Results       Comp. 1

I[0]    =     1.0000e+06
T1      =     12.000s
SD      =     1.0000e+03

     Point        Tau          Expt         Calc   Difference
         1   250.000u   1.23450e+02   1.2000e+02   3.4500e+00
         2    10.000m  -4.50000e+03  -4.4000e+03  -1.0000e+02
         3     1.5000s   2.10000e+05   2.0000e+05   1.0000e+04
         4    60.0000s   9.87654e+05   9.8000e+05   7.6540e+03
=============================================================

3 points for Integral 2, Integral Region from 180.000 to 160.000 ppm
Results       Comp. 1

     Point        Tau          Expt         Calc   Difference
         1     1.0000s   1.00000e+01   1.0000e+01   0.0000e+00
         2     2.0000s   2.00000e+01   2.0000e+01   0.0000e+00
         3     4.0000s   4.00000e+01   4.0000e+01   0.0000e+00
=============================================================
"""


def test_topspin_export_blocks_and_units(tmp_path):
    f = tmp_path / "ct1t2.txt"
    f.write_text(CT1T2)
    assert detect_format(f) == "topspin"
    t, y, s = _read(f, integral=1, quantity="signal")
    np.testing.assert_array_equal(t, [250e-6, 10e-3, 1.5, 60.0])
    np.testing.assert_array_equal(y, [123.45, -4500.0, 2.1e5, 987654.0])
    assert s is None
    t, y, _ = _read(f, integral=2, quantity="signal")
    np.testing.assert_array_equal(t, [1.0, 2.0, 4.0])
    other = tmp_path / "export.txt"          # found by its content, whatever its name
    other.write_text(CT1T2)
    assert detect_format(other) == "topspin"


def test_topspin_export_errors_are_one_line(tmp_path):
    f = tmp_path / "ct1t2.txt"
    f.write_text(CT1T2)
    with pytest.raises(CaseError) as e:
        _read(f, quantity="signal")
    assert "integrals 1 (12.000 to -2.000 ppm), 2 (180.000 to 160.000 ppm)" in _one_line(e)
    with pytest.raises(CaseError, match="datasets.x..integral = 3"):
        _read(f, integral=3, quantity="signal")
    f.write_text(CT1T2.replace("    10.000m  -4.50000e+03", "    10.000x  -4.50000e+03"))
    with pytest.raises(CaseError) as e:
        _read(f, integral=1, quantity="signal")
    assert "integral 1, data row 2 (line 14)" in _one_line(e)
    f.write_text(CT1T2.replace("4 points for Integral 1", "5 points for Integral 1"))
    with pytest.raises(CaseError, match="announces 5 points and its table has 4 rows"):
        _read(f, integral=1, quantity="signal")
    f.write_text(CT1T2.replace("60.0000s", "1.0000m"))
    with pytest.raises(CaseError, match=r"data row 4 \(line 16\): times must be >= 0 and strictly"):
        _read(f, integral=1, quantity="signal")


def test_shipped_topspin_export_is_the_1mM_curve():
    t0, p0, _ = _csv_curve(1)
    t, y, _ = _read(DATA / "1mM_ct1t2.txt", quantity="signal")
    np.testing.assert_allclose(t, t0, rtol=5e-5)      # Tau printed to 1 us in ms, 0.1 ms in s
    np.testing.assert_allclose(y / SCALE, p0, atol=4e-6)   # Expt to 6 significant digits


# --- Bruker pseudo-2D folders ------------------------------------------------------------------

VD_TEXT = ["100u", "5m", "20m", "0.25", "1s", "2.5s", "10", "30s"]
VD = np.array([100e-6, 5e-3, 20e-3, 0.25, 1.0, 2.5, 10.0, 30.0])


def test_bruker_pdata_times_and_integrals_exact(tmp_path):
    gen = _generator()
    amplitudes = np.array([-3.0e3, 1.0e4, 5.0e4, 2.0e5, 6.0e5, 9.0e5, 1.1e6, 1.2e6])
    folder = tmp_path / "12"
    gen.write_pseudo2d(folder, VD, amplitudes, VD_TEXT + ["60s", "120s"])   # a longer list
    assert detect_format(folder) == "bruker"
    t, y, s = _read(folder, ppm_range=list(gen.RANGE_PPM), quantity="signal")
    np.testing.assert_allclose(t, VD, rtol=1e-15, atol=0)
    # the line integrates to 1: the integrals are the amplitudes, to the 2rr's int32 steps
    np.testing.assert_allclose(y, amplitudes, rtol=0, atol=1e-8 * np.max(np.abs(amplitudes)))
    assert s is None
    # half the line: the integral between the line centre and 150 ppm is about half
    t, half, _ = _read(folder, ppm_range=[150.0, gen.LINE_PPM], quantity="signal")
    assert 0.4 < float(np.mean(half / y)) < 0.6


def test_bruker_vclist_times_from_a_pulse_program_delay(tmp_path):
    gen = _generator()
    folder = tmp_path / "13"
    gen.write_pseudo2d(folder, VD, np.linspace(1.0, 8.0, 8))
    (folder / "vdlist").unlink()
    (folder / "vclist").write_text("1\n2\n4\n8\n16\n32\n64\n128\n")
    acqus = (folder / "acqus").read_text()
    d = acqus.split("##$D= (0..31)\n")[1].split("\n##")[0].split()
    d[20] = "0.125"
    (folder / "acqus").write_text(acqus.replace(
        acqus.split("##$D= (0..31)\n")[1].split("\n##")[0], " ".join(d)))
    t, _, _ = _read(folder, ppm_range=[150.0, -140.0], loop_delay="d20", quantity="signal")
    np.testing.assert_array_equal(t, 0.125 * 2.0 ** np.arange(8))
    t, _, _ = _read(folder, ppm_range=[150.0, -140.0], loop_delay=["d20", "250 ms"],
                    quantity="signal")
    np.testing.assert_allclose(t, 0.375 * 2.0 ** np.arange(8), rtol=1e-15)
    with pytest.raises(CaseError, match="loop_delay = .*missing.*a vclist counts loops"):
        _read(folder, ppm_range=[150.0, -140.0], quantity="signal")


def test_bruker_ser_without_processed_data(tmp_path):
    """A raw ser (written with nmrglue, no digital filter): rows Fourier transformed and phased
    alike, so the integrals are in the ratio of the FID amplitudes."""
    import nmrglue as ng
    sw, sfo1, n = 50e3, 300.13, 1024
    amplitudes = np.array([0.2, 0.5, 1.0, 1.6, 2.0])
    tt = np.arange(n) / sw
    # a line 3 kHz (10 ppm) above the carrier with a receiver phase, in Bruker's sense of
    # rotation (nmrglue's proc_base.fft and ppm axis: +10 ppm rotates as exp(-i w t))
    fid = np.exp(-2j * np.pi * 3000.0 * tt - tt / 2e-3 + 0.7j)
    ser = np.outer(amplitudes, fid)
    folder = tmp_path / "14"
    udic = ng.fileiobase.create_blank_udic(2)
    udic[0].update({"size": len(amplitudes), "complex": False, "encoding": "states", "sw": 1.0,
                    "obs": sfo1, "car": 0.0, "label": "F1", "time": True, "freq": False})
    udic[1].update({"size": n, "complex": True, "encoding": "direct", "sw": sw, "obs": sfo1,
                    "car": 0.0, "label": "1H", "time": True, "freq": False})
    dic = ng.bruker.create_dic(udic)
    dic["acqus"].update({"NUC1": "1H", "SFO1": sfo1, "BF1": sfo1, "SW_h": sw, "O1": 0.0,
                         "DECIM": 1, "DSPFVS": 20, "GRPDLY": 0, "DTYPA": 2, "BYTORDA": 0})
    dic["acqu2s"].update({"TD": len(amplitudes)})
    ng.bruker.write(str(folder), dic, ser, overwrite=True)
    (folder / "vdlist").write_text("1s\n2s\n4s\n8s\n16s\n")
    t, y, _ = _read(folder, ppm_range=[40.0, -20.0], quantity="signal")
    np.testing.assert_array_equal(t, [1.0, 2.0, 4.0, 8.0, 16.0])
    ratio = y / amplitudes
    assert ratio[0] > 0
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-9)
    # the line is at 10 ppm (3 kHz at 300.13 MHz), 0.53 ppm wide: 0.92 of it within +-2 ppm
    _, near, _ = _read(folder, ppm_range=[12.0, 8.0], quantity="signal")
    np.testing.assert_allclose(near / y, (2 / np.pi) * np.arctan(2.0 / 0.265), rtol=0.02)


def test_bruker_errors_are_one_line(tmp_path, monkeypatch):
    gen = _generator()
    folder = tmp_path / "15"
    gen.write_pseudo2d(folder, VD, np.ones(8), VD_TEXT)
    with pytest.raises(CaseError, match=r"ppm_range = .*missing.*two chemical shifts"):
        _read(folder, quantity="signal")
    with pytest.raises(CaseError, match="holds no point of the spectrum"):
        _read(folder, ppm_range=[900.0, 800.0], quantity="signal")
    (folder / "vdlist").write_text("\n".join(VD_TEXT[:3] + ["0.25x"] + VD_TEXT[4:]) + "\n")
    with pytest.raises(CaseError) as e:
        _read(folder, ppm_range=[150.0, -140.0], quantity="signal")
    assert "vdlist row 4 (line 4): '0.25x'; allowed: a delay with s, m, u or n" in _one_line(e)
    (folder / "vdlist").write_text("\n".join(VD_TEXT[:5]) + "\n")
    with pytest.raises(CaseError, match="5 entries for the 8 rows"):
        _read(folder, ppm_range=[150.0, -140.0], quantity="signal")
    with pytest.raises(CaseError, match="values up to .* are not polarizations"):
        (folder / "vdlist").write_text("\n".join(VD_TEXT) + "\n")
        _read(folder, ppm_range=[150.0, -140.0])
    monkeypatch.setitem(sys.modules, "nmrglue", None)
    with pytest.raises(CaseError) as e:
        _read(folder, ppm_range=[150.0, -140.0], quantity="signal")
    assert 'needs nmrglue: pip install "spindiff[bruker]"' in _one_line(e)


def test_shipped_bruker_folder_is_the_5mM_curve():
    t0, p0, _ = _csv_curve(5)
    t, y, _ = _read(DATA / "5mM_pseudo2d", ppm_range=[150.0, -140.0], quantity="signal")
    vd = (DATA / "5mM_pseudo2d" / "vdlist").read_text().split()
    np.testing.assert_allclose(t, t0, rtol=1e-4)       # vdlist written to 0.1 ms / 0.1 ms
    assert len(vd) == len(t)
    np.testing.assert_allclose(y / SCALE, p0, atol=1e-8)


# --- headerless text and CSVs with other names --------------------------------------------------

def test_headerless_text_two_and_three_columns(tmp_path):
    f = tmp_path / "a.dat"
    f.write_text("# a comment\n10\t0.1\n20, 0.2\n 40 ; 0.35 \n")
    assert detect_format(f) == "text"
    t, y, s = _read(f, time_unit="ms")
    np.testing.assert_allclose(t, [0.01, 0.02, 0.04], rtol=1e-15)
    np.testing.assert_array_equal(y, [0.1, 0.2, 0.35])
    assert s is None
    f.write_text("1 0.1 0.01\n2 0.2 0.02\n3 0.3 0.01\n")
    t, y, s = _read(f, time_unit="min")
    np.testing.assert_array_equal(t, [60.0, 120.0, 180.0])
    np.testing.assert_array_equal(s, [0.01, 0.02, 0.01])


def test_headerless_text_errors_are_one_line(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("1 0.1\n2 0.2\n")
    with pytest.raises(CaseError) as e:
        _read(f)
    assert "time_unit = '(missing)'" in _one_line(e) and "has no header" in str(e.value)
    f.write_text("# header comment\n1 0.1\n2 0.2\n3 O.3\n")
    with pytest.raises(CaseError) as e:
        _read(f, time_unit="s")
    assert "data row 3 (line 4): 'O.3' is not a number" in _one_line(e)
    f.write_text("1 0.1\n2 0.2 0.01\n")
    with pytest.raises(CaseError, match=r"data row 2 \(line 2\): 3 fields"):
        _read(f, time_unit="s")
    f.write_text("1 0.1 0.01\n2 0.2 0\n")
    with pytest.raises(CaseError, match=r"data row 2 \(line 2\): sigma must be > 0"):
        _read(f, time_unit="s")
    with pytest.raises(CaseError, match="time_unit = 'parsec'"):
        _read(f, time_unit="parsec")


@pytest.mark.parametrize("header,unit,scale", [
    ("t,intensity", "s", 1.0), ("time (ms),signal,error", None, 1e-3),
    ("tau [s],integral", None, 1.0), ("delay/min,P", None, 60.0),
    ("Delay_s, Polarization , sigma", None, 1.0), ("buildup time (h),enhancement", None, 3600.0)])
def test_csv_columns_recognised_by_name(tmp_path, header, unit, scale):
    f = tmp_path / "a.csv"
    n = len(header.split(","))
    rows = ["1,0.1,0.01", "2,0.2,0.02", "4,0.4,0.01"]
    f.write_text(header + "\n" + "\n".join(",".join(r.split(",")[:n]) for r in rows) + "\n")
    t, y, s = _read(f, time_unit=unit) if unit else _read(f)
    np.testing.assert_allclose(t, np.array([1.0, 2.0, 4.0]) * scale, rtol=1e-15)
    np.testing.assert_array_equal(y, [0.1, 0.2, 0.4])
    assert (s is None) == (n == 2)


def test_csv_columns_not_recognised_are_one_line(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text("time (s),P_sample,P_visible\n1,0.1,0.2\n2,0.2,0.3\n")
    with pytest.raises(CaseError) as e:
        _read(f)
    assert ("no column is recognisable as the value; its columns are time (s), P_sample, "
            "P_visible: name them with columns") in _one_line(e)
    f.write_text("t,intensity,signal\n1,0.1,0.2\n2,0.2,0.3\n")
    with pytest.raises(CaseError, match=r"several columns could be the value \(intensity, signal\)"):
        _read(f, time_unit="s")
    f.write_text("t,intensity\n1,0.1\n2,0.2\n")
    with pytest.raises(CaseError, match="the time column 't' of a.csv does not say its unit"):
        _read(f)
    t, y, _ = _read(f, columns={"time": "t", "value": "intensity"}, time_unit="ms")
    np.testing.assert_allclose(t, [1e-3, 2e-3], rtol=1e-15)
    f.write_text("t,intensity\n1,0.1\n2,x\n")
    with pytest.raises(CaseError, match="data row 2, column intensity: 'x' is not a number"):
        _read(f, time_unit="s")


def test_shipped_spectrometer_fit_file_reads_the_four_curves():
    from spindiff.fit.spec import load_fit
    spec = load_fit(CASES / "fit_example" / "fit_spectrometer.toml")
    assert [d.name for d in spec.datasets] == ["1mM", "5mM", "10mM", "40mM"]
    for d in spec.datasets:
        t0, p0, s0 = _csv_curve(int(d.name[:-2]))
        np.testing.assert_allclose(d.time_s, t0, rtol=1e-4)
        scale = 1.0 if d.quantity == "polarization" else SCALE
        np.testing.assert_allclose(d.value / scale, p0, atol=4e-6)
        assert d.sigma is not None


def test_a_malformed_data_file_is_one_cli_line(tmp_path, capsys):
    from spindiff.cli import main
    (tmp_path / "data").mkdir()
    for f in ("buildup.toml",):
        (tmp_path / f).write_text((CASES / "fit_example" / f).read_text())
    (tmp_path / "data" / "10mM.txt").write_text("300\t0.05\t0.004\n337\t0.06\n")
    text = (CASES / "fit_example" / "fit_spectrometer.toml").read_text()
    head, rest = text.split("[[datasets]]", 1)
    ten = "[[datasets]]" + rest.split("[[datasets]]")[2]
    (tmp_path / "fit.toml").write_text(head + ten)
    assert main(["fit", str(tmp_path / "fit.toml"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("spindiff: error: ")
    assert "data row 2 (line 2): 2 fields in '337\\t0.06'; allowed: 3 numbers" in err[0]
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()
