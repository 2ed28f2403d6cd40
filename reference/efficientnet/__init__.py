"""efficientnet: EfficientNet-B0, depthwise or grouped (g16), trained and served on generated fractal images."""
