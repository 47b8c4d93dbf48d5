"""Markets: a cluster's explainable price, quotes, price history, and its order book for peer-to-peer kWh."""
