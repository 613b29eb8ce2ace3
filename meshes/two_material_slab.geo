// Two-material slab: a 4 x 4 x 4 nm box, material "matrix" for z < 2 nm and "film" for
// z > 2 nm, with a conforming interface at z = 2 nm. Lengths in nm.
//   gmsh two_material_slab.geo -3 -format msh41 -o two_material_slab.msh
SetFactory("OpenCASCADE");
Box(1) = {0, 0, 0, 4, 4, 2};
Box(2) = {0, 0, 2, 4, 4, 2};
BooleanFragments{ Volume{1}; Delete; }{ Volume{2}; Delete; }
Physical Volume("matrix", 1) = {1};
Physical Volume("film", 2) = {2};
Physical Surface("outer", 3) = CombinedBoundary{ Volume{1, 2}; };
Mesh.MeshSizeMax = 1.4;
Mesh.MeshSizeFromPoints = 0;
Mesh.MeshSizeFromCurvature = 0;
Mesh.Algorithm3D = 1;
Mesh.RandomSeed = 1;
