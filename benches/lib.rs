//! Support code shared by brisk's benchmarks (the load generator lives here).
