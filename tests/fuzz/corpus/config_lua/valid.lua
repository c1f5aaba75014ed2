workflow "w" { tasks = { { id = "a", command = "true" } } }
env { set = { A = "1" } }
