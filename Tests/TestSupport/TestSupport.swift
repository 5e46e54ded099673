// Helpers shared by the test targets: temporary directories, free ports, child processes.
