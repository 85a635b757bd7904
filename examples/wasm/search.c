// search: the first i in [start, end) with (i * 123) % 99999 == 1, else 0.
// Reduced with "first" across the mesh: the lowest sub-range's non-zero answer wins.
int search(int start, int end) {
  for (int i = start; i < end; i++)
    if (((long long)i * 123) % 99999 == 1) return i;
  return 0;
}
