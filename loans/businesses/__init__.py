"""An owner's businesses: creating one, linking its history (upload or demo merchant), and the overview
the owner's pages show."""
