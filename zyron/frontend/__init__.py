"""The Zyron frontend: a static page that shows the stack's status and jobs."""
