// Planar two-material mesh (read with dim=2): a 4 x 2 nm rectangle, "A" for x < 2 nm and
// "B" for x > 2 nm, in the plane z = 0. Lengths in nm.
//   gmsh square_2d.geo -2 -format msh41 -o square_2d.msh
SetFactory("OpenCASCADE");
Rectangle(1) = {0, 0, 0, 2, 2};
Rectangle(2) = {2, 0, 0, 2, 2};
BooleanFragments{ Surface{1}; Delete; }{ Surface{2}; Delete; }
Physical Surface("A", 1) = {1};
Physical Surface("B", 2) = {2};
Physical Curve("outer", 3) = CombinedBoundary{ Surface{1, 2}; };
Mesh.MeshSizeMax = 0.7;
Mesh.MeshSizeFromPoints = 0;
