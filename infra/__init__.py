"""Process and file infrastructure shared by every package: locks, atomic files, progress
display, error types and text, environment variables, device resolution, checkpoint files.

Nothing here knows about models, datasets or environments, and nothing here imports another
package of this project (the import contract in pyproject.toml checks it)."""
