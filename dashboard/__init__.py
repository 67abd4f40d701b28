"""The product team's dashboard: the KPIs plotted over a chosen period, each figure opening its conversations."""
