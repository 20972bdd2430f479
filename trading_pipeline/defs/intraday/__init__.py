"""The 15-minute intraday cycle: refresh intraday bars, manage open positions on them, update order status."""
