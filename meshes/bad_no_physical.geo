// BAD on purpose: a 2 nm cube without any physical group. Gmsh then saves every element,
// but DOLFINx keeps only cells of physical groups, so spindiff refuses the file.
//   gmsh bad_no_physical.geo -3 -format msh41 -o bad_no_physical.msh
SetFactory("OpenCASCADE");
Box(1) = {0, 0, 0, 2, 2, 2};
Mesh.MeshSizeMax = 1.2;
Mesh.MeshSizeFromPoints = 0;
Mesh.RandomSeed = 1;
