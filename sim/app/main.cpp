// moesim: discrete-event simulation of multi-node MoE decode on SimGrid (the command line is in cli.cpp).
#include "commands.hpp"

int main(int argc, char** argv) { return moesim::cli::run_cli(argc, argv); }
