workflow "w" {
