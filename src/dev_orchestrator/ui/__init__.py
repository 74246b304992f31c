"""The live views: the terminal dashboard (Textual) and its pure models, clients of control/.

Only ``tui`` imports Textual; the models (logs, rows, clipboard, progress) are plain
values, so that the rest of the package never pays for the terminal library.
"""
