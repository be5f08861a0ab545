/* commands.h - heft-engine's subcommands. Each takes the arguments after
 * the subcommand name (argv[0] is the subcommand) and returns the exit
 * status: 0 success, 1 runtime error, 2 bad input (bad file, bad usage). */
#ifndef HEFT_COMMANDS_H
#define HEFT_COMMANDS_H

int cmd_inspect(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);

#endif
