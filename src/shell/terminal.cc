// Saving and restoring the terminal's modes with termios, from normal code and from signal
// handlers alike (tcsetattr and write are async-signal-safe).
#include "shell/terminal.h"

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace velum::shell {

namespace {

struct termios g_saved_modes;
volatile sig_atomic_t g_saved = 0;

// Room for the crash handler to run when the crash is a stack overflow.
constexpr size_t kAltStackBytes = 64 * 1024;
alignas(16) char g_alt_stack[kAltStackBytes];

const int kCrashSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

void OnCrash(int sig) {
  RestoreTerminal();
  const char head[] = "\r\nnode: crashed (signal ";
  char digits[4] = {static_cast<char>('0' + sig / 10 % 10), static_cast<char>('0' + sig % 10), ')',
                    '\n'};
  ssize_t ignored = write(STDERR_FILENO, head, sizeof head - 1);
  ignored = write(STDERR_FILENO, sig >= 10 ? digits : digits + 1, sig >= 10 ? 4 : 3);
  (void)ignored;
  // SA_RESETHAND put the default action back: the same signal ends the process (and dumps
  // core where that is enabled), as it would have without this handler.
  raise(sig);
}

}  // namespace

void SaveTerminal() {
  if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &g_saved_modes) == 0) g_saved = 1;
}

void RestoreTerminal() {
  if (g_saved) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_modes);
}

void InstallCrashHandlers() {
  stack_t stack{};
  stack.ss_sp = g_alt_stack;
  stack.ss_size = sizeof g_alt_stack;
  sigaltstack(&stack, nullptr);
  struct sigaction action {};
  action.sa_handler = OnCrash;
  action.sa_flags = SA_RESETHAND | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  for (int sig : kCrashSignals) sigaction(sig, &action, nullptr);
  std::atexit(RestoreTerminal);
}

}  // namespace velum::shell
