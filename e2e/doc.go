// Package e2e tests Sluice as users run it: several example servers (real
// processes, built from examples/) configured from one file and sharing a
// Redis Cluster, under real load, real faults and real clients.
package e2e
