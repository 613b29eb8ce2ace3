// BAD on purpose: a 2 nm cube with a physical surface but no physical volume
// (Mesh.SaveAll keeps the tetrahedra in the file); every cell would be dropped.
//   gmsh bad_no_volume_groups.geo -3 -format msh41 -o bad_no_volume_groups.msh
SetFactory("OpenCASCADE");
Box(1) = {0, 0, 0, 2, 2, 2};
Physical Surface("outer", 3) = Boundary{ Volume{1}; };
Mesh.MeshSizeMax = 1.2;
Mesh.MeshSizeFromPoints = 0;
Mesh.RandomSeed = 1;
Mesh.SaveAll = 1;
