// BAD on purpose: two 2 x 2 x 1 nm boxes stacked along z; only the lower one is in a
// physical volume ("matrix"), so the cells of the upper one belong to no material
// (Mesh.SaveAll keeps them in the file).
//   gmsh bad_unassigned.geo -3 -format msh41 -o bad_unassigned.msh
SetFactory("OpenCASCADE");
Box(1) = {0, 0, 0, 2, 2, 1};
Box(2) = {0, 0, 1, 2, 2, 1};
BooleanFragments{ Volume{1}; Delete; }{ Volume{2}; Delete; }
Physical Volume("matrix", 1) = {1};
Mesh.MeshSizeMax = 1.2;
Mesh.MeshSizeFromPoints = 0;
Mesh.RandomSeed = 1;
Mesh.SaveAll = 1;
