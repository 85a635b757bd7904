// The interactive shell's line editor, on libedit's native API: a prompt, history kept in a
// file, Tab completion from the command table, and Ctrl-C that clears the line (as bash and
// Python do) instead of ending the node.
#ifndef VELUM_SHELL_LINE_EDITOR_H_
#define VELUM_SHELL_LINE_EDITOR_H_

#include <histedit.h>

#include <cwchar>
#include <filesystem>
#include <string>

#include "shell/completion.h"
#include "shell/shell_limits.h"

namespace velum::shell {

class LineEditor {
 public:
  enum class ReadKind { kLine, kInterrupted, kEnd };
  struct ReadResult {
    ReadKind kind;
    std::string line;  // kLine: without its newline
  };

  // Standard input must be a terminal. The history file is read now (a missing or unreadable
  // one is an empty history) and written after each line added.
  LineEditor(std::string prompt, std::filesystem::path history_file, CompletionSources sources);
  ~LineEditor();  // gives the terminal back as it was
  LineEditor(const LineEditor&) = delete;
  LineEditor& operator=(const LineEditor&) = delete;

  // The next line; kInterrupted after Ctrl-C (the line typed so far is dropped); kEnd after
  // Ctrl-D on an empty line or at the end of input.
  ReadResult Read();

  void AddHistory(const std::string& line);

  // Async-signal-safe: a SIGINT that came while no command ran (a Ctrl-C pressed just as a
  // command ended, or `kill -INT`) drops the line being edited, as the Ctrl-C key does.
  static void InterruptFromSignal();

 private:
  static int ReadChar(EditLine* el, wchar_t* out);
  static char* PromptOf(EditLine* el);
  static unsigned char OnTab(EditLine* el, int key);
  static unsigned char OnInterrupt(EditLine* el, int key);
  unsigned char CompleteAtCursor();

  std::string prompt_;
  std::filesystem::path history_file_;
  CompletionSources sources_;
  EditLine* el_ = nullptr;
  History* history_ = nullptr;
  bool interrupted_ = false;
  std::mbstate_t decode_state_{};  // ReadChar's UTF-8 decoding between bytes
};

}  // namespace velum::shell

#endif  // VELUM_SHELL_LINE_EDITOR_H_
