from loans.demo_status import demo_status_read


def demo_status(request) -> dict:
    """`demo_status` for the banner in base.html while the run command prepares the demo."""
    return {"demo_status": demo_status_read()}
