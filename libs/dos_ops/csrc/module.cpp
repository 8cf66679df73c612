// Lets `import dos_ops._C` load the shared library, whose static initialisers register the ops.
#include <Python.h>

extern "C" {
PyObject* PyInit__C(void) {
  static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_C", "dos_ops kernels (see torch.ops.dos_ops)", -1,
                                      nullptr};
  return PyModule_Create(&module);
}
}
