"""proactive-ml: reach out to customers before they ask for help or leave."""

__version__ = "0.1.0"
