// The line editor: libedit reads and edits the line in its own terminal mode; this file binds
// Tab to the command table's completion and Ctrl-C to "drop the line", with the terminal's
// interrupt character turned off while a line is edited so Ctrl-C is a key, not SIGINT.
#include "shell/line_editor.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace velum::shell {

namespace {

// Written by InterruptFromSignal, read by ReadChar: SIGINT turned into a Ctrl-C key.
int g_interrupt_pipe[2] = {-1, -1};

}  // namespace

void LineEditor::InterruptFromSignal() {
  if (g_interrupt_pipe[1] >= 0) {
    ssize_t ignored = write(g_interrupt_pipe[1], "c", 1);  // full pipe: one is pending anyway
    (void)ignored;
  }
}

int LineEditor::ReadChar(EditLine* el, wchar_t* out) {
  void* self_ptr = nullptr;
  el_get(el, EL_CLIENTDATA, &self_ptr);
  auto* self = static_cast<LineEditor*>(self_ptr);
  for (;;) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {g_interrupt_pipe[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (fds[1].revents & POLLIN) {
      char drained[64];
      while (read(g_interrupt_pipe[0], drained, sizeof drained) > 0) {
      }
      *out = L'\x03';  // bound to velum-interrupt, as the key itself
      return 1;
    }
    if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    char byte;
    ssize_t n = read(STDIN_FILENO, &byte, 1);
    if (n == 0) return 0;  // end of input
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return -1;
    }
    wchar_t wc;
    size_t used = std::mbrtowc(&wc, &byte, 1, &self->decode_state_);
    if (used == static_cast<size_t>(-2)) continue;  // inside a multibyte character
    if (used == static_cast<size_t>(-1)) {          // not valid here: the byte as it is
      self->decode_state_ = {};
      wc = static_cast<unsigned char>(byte);
    }
    *out = wc;
    return 1;
  }
}

LineEditor::LineEditor(std::string prompt, std::filesystem::path history_file,
                       CompletionSources sources)
    : prompt_(std::move(prompt)),
      history_file_(std::move(history_file)),
      sources_(std::move(sources)) {
  HistEvent event;
  history_ = history_init();
  history(history_, &event, H_SETSIZE, kHistoryLines);
  history(history_, &event, H_SETUNIQUE, 1);
  history(history_, &event, H_LOAD, history_file_.c_str());
  if (g_interrupt_pipe[0] < 0 && pipe2(g_interrupt_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
    g_interrupt_pipe[0] = g_interrupt_pipe[1] = -1;
  el_ = el_init("velum", stdin, stdout, stderr);
  el_set(el_, EL_CLIENTDATA, this);
  if (g_interrupt_pipe[0] >= 0) el_set(el_, EL_GETCFN, &LineEditor::ReadChar);
  el_set(el_, EL_EDITOR, "emacs");
  el_set(el_, EL_SIGNAL, 0);  // the node's signal thread owns SIGINT and SIGTERM
  el_set(el_, EL_PROMPT, &LineEditor::PromptOf);
  el_set(el_, EL_HIST, history, history_);
  el_source(el_, nullptr);  // the user's ~/.editrc, before our keys so these stay bound
  // While a line is edited, Ctrl-C reaches libedit as a key (no SIGINT), and drops the line.
  el_set(el_, EL_SETTY, "-d", "-isig", nullptr);
  // Functions are added by their wide names: el_set's narrow EL_ADDFN copies both strings
  // (wcsdup) and libedit never frees the copies (LeakSanitizer reports them at every exit);
  // el_wset keeps these literals' addresses, which live as long as the program.
  el_wset(el_, EL_ADDFN, L"velum-interrupt", L"drop the line, as Ctrl-C does in bash",
          &LineEditor::OnInterrupt);
  el_set(el_, EL_BIND, "^C", "velum-interrupt", nullptr);
  el_wset(el_, EL_ADDFN, L"velum-complete", L"complete the word from the command table",
          &LineEditor::OnTab);
  el_set(el_, EL_BIND, "^I", "velum-complete", nullptr);
  el_set(el_, EL_BIND, "^R", "em-inc-search-prev", nullptr);  // as in bash: search the history
}

LineEditor::~LineEditor() {
  el_end(el_);
  history_end(history_);
}

LineEditor::ReadResult LineEditor::Read() {
  interrupted_ = false;
  // The terminal goes to libedit's mode before the prompt is drawn, not at the first key (as
  // el_gets would): a key pressed as soon as the prompt shows is never taken in cooked mode,
  // where the driver echoes it twice over and swallows a Ctrl-D.
  el_set(el_, EL_PREP_TERM, 1);
  int count = 0;
  const char* raw = el_gets(el_, &count);
  el_set(el_, EL_PREP_TERM, 0);
  if (interrupted_) return {ReadKind::kInterrupted, ""};
  if (!raw || count <= 0) return {ReadKind::kEnd, ""};
  std::string line(raw, static_cast<size_t>(count));
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return {ReadKind::kLine, line};
}

void LineEditor::AddHistory(const std::string& line) {
  HistEvent event;
  history(history_, &event, H_ENTER, line.c_str());
  history(history_, &event, H_SAVE, history_file_.c_str());
}

char* LineEditor::PromptOf(EditLine* el) {
  void* self = nullptr;
  el_get(el, EL_CLIENTDATA, &self);
  return const_cast<char*>(static_cast<LineEditor*>(self)->prompt_.c_str());
}

unsigned char LineEditor::OnInterrupt(EditLine* el, int) {
  void* self = nullptr;
  el_get(el, EL_CLIENTDATA, &self);
  static_cast<LineEditor*>(self)->interrupted_ = true;
  // Shown as bash does: "^C" after the whole line, then a fresh prompt below it. The "^C" is
  // drawn as part of the (dropped) line, and a pushed Return ends it the way Enter does.
  const LineInfo* line = el_line(el);
  el_cursor(el, static_cast<int>(line->lastchar - line->cursor));
  el_insertstr(el, "^C");
  el_push(el, "\r");
  return CC_REFRESH;
}

unsigned char LineEditor::OnTab(EditLine* el, int) {
  void* self = nullptr;
  el_get(el, EL_CLIENTDATA, &self);
  return static_cast<LineEditor*>(self)->CompleteAtCursor();
}

unsigned char LineEditor::CompleteAtCursor() {
  const LineInfo* info = el_line(el_);
  std::string before(info->buffer, static_cast<size_t>(info->cursor - info->buffer));
  Completion c = Complete(before, sources_);
  if (c.candidates.empty()) return CC_REFRESH_BEEP;
  std::string common = CommonPrefix(c.candidates);
  bool unique = c.candidates.size() == 1;
  std::string insert = common.size() > c.word.size() ? common.substr(c.word.size()) : "";
  // A unique word is finished with a space, a folder is not (its entries come next).
  if (unique && common.back() != '/') insert += ' ';
  if (!insert.empty()) {
    el_insertstr(el_, insert.c_str());
    return CC_REFRESH;
  }
  // Several candidates and nothing more in common: list them below the line, in columns, by
  // the part after the folder as bash does.
  std::vector<std::string> shown;
  size_t width = 0;
  for (const auto& candidate : c.candidates) {
    size_t slash = candidate.rfind('/', candidate.size() - 2);
    shown.push_back(slash == std::string::npos || candidate.size() < 2
                        ? candidate
                        : candidate.substr(slash + 1));
    width = std::max(width, shown.back().size());
  }
  winsize ws{};
  size_t columns = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col : 80;
  size_t per_line = std::max<size_t>(1, columns / (width + 2));
  std::string out = "\n";
  for (size_t i = 0; i < shown.size(); i++) {
    out += shown[i];
    bool last_in_row = (i + 1) % per_line == 0 || i + 1 == shown.size();
    out += last_in_row ? "\n" : std::string(width + 2 - shown[i].size(), ' ');
  }
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
  return CC_REDISPLAY;
}

}  // namespace velum::shell
