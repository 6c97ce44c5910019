// wstool's entry point; everything, including the exception barrier, lives in the driver.
#include "tools/driver.h"

int main(int argc, char** argv) { return wstool::tools::run_driver(argc, argv); }
