// facility-ca: command line entry point; everything else lives in fca_app so tests and tools can link it.
#include "command.hpp"

int main(int argc, char** argv) { return fca::app::run_cli(argc, argv); }
