// Particle in a cube: a sphere of radius 1.5 nm ("particle") at the centre of a 6 nm cube
// ("matrix"), conforming interface. Lengths in nm. Coarse on purpose (a test and example
// file): the faceted sphere has about 14 % less volume than 4/3 pi 1.5^3.
//   gmsh particle_in_cube.geo -3 -format msh41 -o particle_in_cube.msh
SetFactory("OpenCASCADE");
Box(1) = {0, 0, 0, 6, 6, 6};
Sphere(2) = {3, 3, 3, 1.5};
BooleanFragments{ Volume{1}; Delete; }{ Volume{2}; Delete; }
// after the fragment, volume 2 is the sphere and volume 3 the cube minus the sphere
Physical Volume("particle", 1) = {2};
Physical Volume("matrix", 2) = {3};
Physical Surface("outer", 3) = CombinedBoundary{ Volume{2, 3}; };
Mesh.MeshSizeMax = 2.0;
Mesh.MeshSizeFromPoints = 0;
Mesh.MeshSizeFromCurvature = 10;
Mesh.Algorithm3D = 1;
Mesh.RandomSeed = 1;
