// A WASI command in C++ (Debian's libc++ for wasm32): the words of its stdin by frequency,
// most frequent first (ties by the word), with iostreams, std::map and std::sort.
#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <utility>
#include <vector>

int main(int argc, char** argv) {
  size_t top = argc > 1 ? std::stoul(argv[1]) : 10;
  std::map<std::string, long> counts;
  std::string word;
  while (std::cin >> word) counts[word]++;
  std::vector<std::pair<std::string, long>> order(counts.begin(), counts.end());
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (order.size() > top) order.resize(top);
  for (const auto& entry : order) std::cout << entry.second << ' ' << entry.first << '\n';
  std::cerr << counts.size() << " distinct words\n";
  return 0;
}
