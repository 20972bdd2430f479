"""Research statistics without Dagster: how much of a parameter sweep's best result is selection rather than skill
(the Deflated Sharpe Ratio and the Probability of Backtest Overfitting, ``overfitting.py``)."""
