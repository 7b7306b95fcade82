"""The delivery plane: edge appliances (nginx), their fill agent, steering and players."""
