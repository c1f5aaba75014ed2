backend "x" { type = "local", max_concurrent = "ten" }
