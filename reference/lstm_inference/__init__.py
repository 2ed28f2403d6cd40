"""lstm_inference: a two-layer LSTM predicting the next-step return of a generated factor model."""
