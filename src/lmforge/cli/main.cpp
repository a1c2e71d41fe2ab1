// The `lmforge` binary: dispatches to one subcommand per file in cli/.
#include <iostream>

int main(int argc, char** argv) {
  std::cout << "lmforge " << LMFORGE_VERSION << "\n";
  return 0;
}
