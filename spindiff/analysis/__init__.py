"""Analysis of computed curves (pure numpy/scipy): buildup fits."""
