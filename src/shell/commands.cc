// The mesh commands (peers, status, quit); dispatch goes through the command table. Each
// command builds its JSON first and renders text from it, so the two forms never disagree.
#include "shell/commands.h"

#include <cstdio>
#include <sstream>
#include <vector>

#include "shell/command_table.h"
#include "shell/job_commands.h"
#include "shell/shell_util.h"

namespace velum::shell {

namespace {

using nlohmann::json;

// `peers [--all]`: the table has checked the words, so a second word is --all.
CommandResult Peers(Node& node, const std::vector<std::string>& words) {
  return PeersResult(node.Peers(), words.size() == 2);
}

}  // namespace

CommandResult PeersResult(const std::vector<PeerInfo>& peers, bool all) {
  CommandResult r;
  json list = json::array();
  size_t hidden = 0;
  for (const auto& p : peers) {
    if (!all && IsLongDeparted(p)) {
      hidden++;
      continue;
    }
    list.push_back({{"id", p.id},
                    {"addr", p.addr},
                    {"state", core::StateName(p.state)},
                    {"incarnation", p.incarnation},
                    {"slots", p.slots},
                    {"engines", p.engines},
                    {"load", p.load},
                    {"version", p.version},
                    {"last_heard_ms", p.last_heard_ms_ago},
                    {"link", p.link_up},
                    {"link_rtt_us", p.link_rtt_us}});
  }
  r.json = {{"peers", list}};
  if (!all) r.json["hidden_departed"] = hidden;
  std::ostringstream out;
  char line[256];
  std::snprintf(line, sizeof line, "%-5s %-22s %-8s %-5s %-11s %-5s %-14s %s", "id", "address",
                "state", "slots", "engines", "load", "last heard", "link rtt");
  out << line;
  for (const auto& p : list) {
    std::string engines;
    for (const auto& e : p["engines"])
      engines += (engines.empty() ? "" : ",") + e.get<std::string>();
    int64_t heard = p["last_heard_ms"];
    std::string ago = heard < 0 ? "never" : std::to_string(heard) + " ms ago";
    int64_t rtt = p["link_rtt_us"];
    std::string link = !p["link"].get<bool>() ? "no link"
                       : rtt < 0              ? "up"
                                              : std::to_string(rtt) + " us";
    std::snprintf(line, sizeof line, "\n%-5u %-22s %-8s %-5u %-11s %-5u %-14s %s",
                  p["id"].get<unsigned>(), p["addr"].get<std::string>().c_str(),
                  p["state"].get<std::string>().c_str(), p["slots"].get<unsigned>(),
                  engines.c_str(), p["load"].get<unsigned>(), ago.c_str(), link.c_str());
    out << line;
  }
  if (list.empty() && !hidden) out << "\n(no peers yet)";
  if (hidden)
    out << "\n(" << hidden << " departed peer" << (hidden == 1 ? "" : "s") << " not heard for "
        << kHideDepartedAfterMs / 1000 << " s hidden: peers --all shows them)";
  r.text = out.str();
  return r;
}

namespace {

CommandResult Status(Node& node) {
  NodeStatus s = node.Status();
  CommandResult r;
  r.json = {{"id", s.id},
            {"addr", s.addr},
            {"incarnation", s.incarnation},
            {"uptime_ms", s.uptime_ms},
            {"alive_peers", s.alive_peers},
            {"known_members", s.known_members},
            {"links", s.links_up},
            {"datagrams_accepted", s.datagrams_accepted},
            {"datagrams_dropped", s.datagrams_dropped},
            {"dropped_bad_mac", s.dropped_bad_mac},
            {"dropped_malformed", s.dropped_malformed},
            {"dropped_stale", s.dropped_stale},
            {"dropped_replayed", s.dropped_replayed},
            {"dropped_misdirected", s.dropped_misdirected},
            {"undecodable", s.undecodable},
            {"frames_held", s.frames_held},
            {"frames_held_dropped", s.frames_held_dropped},
            {"connections_refused", s.links_refused},
            {"handshakes_timed_out", s.handshakes_timed_out},
            {"handshakes_evicted", s.handshakes_evicted},
            {"handshakes_failed", s.handshakes_failed},
            {"probes", s.probes},
            {"suspicions", s.suspicions},
            {"declared_dead", s.declared_dead},
            {"refutations", s.refutations},
            {"wrong_key_datagrams", s.wrong_key_datagrams},
            {"wrong_key_sources", s.wrong_key_sources},
            {"duplicate_id_claims", s.duplicate_id_claims},
            {"own_id_elsewhere", s.own_id_elsewhere},
            {"seeds_silent", s.seeds_silent},
            {"home", s.home},
            {"slots", s.slots},
            {"busy_slots", s.busy_slots},
            {"jobs_running", s.jobs.jobs_running},
            {"jobs_resumed", s.jobs.jobs_resumed},
            {"slices_run", s.jobs.slices_run},
            {"calls_served", s.jobs.calls_served},
            {"commands_served", s.jobs.commands_served},
            {"command_files_fetched", s.jobs.command_files_fetched},
            {"command_bytes_fetched", s.jobs.command_bytes_fetched},
            {"modules_fetched", s.jobs.modules_fetched},
            {"module_bytes_fetched", s.jobs.module_bytes_fetched},
            {"modules_served", s.jobs.modules_served}};
  if (!s.http.address.empty())
    r.json["http"] = {{"address", s.http.address},
                      {"requests", s.http.requests},
                      {"unauthorized", s.http.unauthorized}};
  std::ostringstream out;
  out << "node " << s.id << " at " << s.addr << ", incarnation " << s.incarnation << ", up "
      << s.uptime_ms / 1000.0 << " s\n"
      << "peers: " << s.alive_peers << " alive of " << s.known_members << " known; " << s.links_up
      << " links\n"
      << "datagrams: " << s.datagrams_accepted << " accepted, " << s.datagrams_dropped
      << " dropped (bad mac " << s.dropped_bad_mac << ", malformed " << s.dropped_malformed
      << ", stale " << s.dropped_stale << ", replayed " << s.dropped_replayed << ", misdirected "
      << s.dropped_misdirected << "), " << s.undecodable << " undecodable\n"
      << "job frames from peers not yet alive again: " << s.frames_held << " held, "
      << s.frames_held_dropped << " dropped\n"
      << "connections refused: " << s.links_refused << " (handshake timed out "
      << s.handshakes_timed_out << ", evicted " << s.handshakes_evicted << ", failed "
      << s.handshakes_failed << ")\n"
      << "failure detector: " << s.probes << " probes, " << s.suspicions << " suspicions, "
      << s.declared_dead << " declared dead, " << s.refutations << " refutations\n"
      << "peers kept out: wrong cluster key " << s.wrong_key_datagrams << " datagrams ("
      << s.wrong_key_sources << " addresses), duplicate id " << s.duplicate_id_claims
      << " claims, this id elsewhere " << s.own_id_elsewhere << ", silent --join seeds "
      << s.seeds_silent << " rounds\n"
      << "work: " << s.busy_slots << " of " << s.slots << " slots busy; " << s.jobs.jobs_running
      << " jobs running (" << s.jobs.jobs_resumed << " resumed); " << s.jobs.slices_run
      << " slices run, " << s.jobs.calls_served << " calls and " << s.jobs.commands_served
      << " commands served\n"
      << "modules: " << s.jobs.modules_fetched << " fetched (" << s.jobs.module_bytes_fetched
      << " bytes), " << s.jobs.modules_served
      << " served; command files: " << s.jobs.command_files_fetched << " fetched ("
      << s.jobs.command_bytes_fetched << " bytes)\n"
      << "home: " << s.home;
  if (!s.http.address.empty())
    out << "\nhttp: " << s.http.address << ", " << s.http.requests << " requests, "
        << s.http.unauthorized << " refused without a valid token";
  r.text = out.str();
  return r;
}

}  // namespace

CommandResult RunCommand(Node& node, const std::string& line, const ShellContext& context) {
  return Dispatch(node, line, context);
}

bool IsLongDeparted(const PeerInfo& peer) {
  bool departed = peer.state == core::MemberState::kDead || peer.state == core::MemberState::kLeft;
  // Never heard directly (-1): only gossip knows when it went, so it stays listed.
  return departed && peer.last_heard_ms_ago >= kHideDepartedAfterMs;
}

CommandResult PeersCommand(Node& node, const std::vector<std::string>& words, const ShellContext&) {
  return Peers(node, words);
}

CommandResult StatusCommand(Node& node, const std::vector<std::string>&, const ShellContext&) {
  return Status(node);
}

CommandResult QuitCommand(Node& node, const std::vector<std::string>&, const ShellContext&) {
  // Jobs still running stay in the journal: they resume when this node starts again.
  json unfinished = json::array();
  for (const auto& j : node.Jobs())
    if (!j.finished()) unfinished.push_back(j.id);
  node.Leave();
  CommandResult r;
  r.quit = true;
  r.text = "left the mesh";
  if (!unfinished.empty())
    r.text += "; unfinished jobs " + DumpJson(unfinished) + " resume when node " +
              std::to_string(node.id()) + " starts again with this home";
  r.json = {{"left", true}};
  if (!unfinished.empty()) r.json["unfinished_jobs"] = unfinished;
  return r;
}

}  // namespace velum::shell
