//! Workloads shared by masu's demo and benchmark programs.
