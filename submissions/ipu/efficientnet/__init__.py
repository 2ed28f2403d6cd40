"""efficientnet on Graphcore IPUs: EfficientNet-B0, depthwise and g16 (16 channels per group,
expand ratio 4, group norm of 4 groups), trained (`training`) and served (`inference`) by
PopTorch 3.4 with the reference's network, loss, AdamW and schedule unchanged, in fp16 with fp16
partials as Graphcore's EfficientNet ran.

Written for PopTorch 3.4 (Poplar SDK 3.4) and tested on the CPU only, through stand-ins for the
PopTorch layer: nothing here has run on an IPU, or been compiled by PopTorch. Importing this
package, or either kind's module, never imports poptorch, so the suite can resolve the
implementation on any machine; `create_session` says in one line when the Poplar SDK is missing.
"""
