// The terminal's modes as the node found them, and their return on every way out: the shell's
// end, a signal that ends the node, a crash. A node never leaves a terminal with echo off.
#ifndef VELUM_SHELL_TERMINAL_H_
#define VELUM_SHELL_TERMINAL_H_

namespace velum::shell {

// Remembers standard input's terminal modes (nothing when it is not a terminal). Called once,
// at start, before anything changes them.
void SaveTerminal();

// Puts the remembered modes back. Async-signal-safe: signal and crash handlers call it.
void RestoreTerminal();

// On SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT (std::terminate too): the terminal is
// restored and one line said on stderr, then the process dies of the same signal as before.
void InstallCrashHandlers();

}  // namespace velum::shell

#endif  // VELUM_SHELL_TERMINAL_H_
