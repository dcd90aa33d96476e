"""One module per API family, thin: validate, call storage or jobs, respond in the family's shape."""
