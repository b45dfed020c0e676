"""The client side: the Actions facade, bulk enqueue, handles and waits."""
