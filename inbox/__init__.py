"""The staff inbox: the handoff queue, each conversation as a live chat, and one-click actions."""
