"""pbrlsvr: Pivot-Based Reinforcement Learning with Semantically Verifiable Rewards.

A strong English pivot model writes reference solutions; a multilingual policy answering in
the target language is trained with GRPO on a reward that verifies its answer against the
pivot's reference. See DESIGN.md for the flow and README.md for the commands.
"""

__version__ = "0.1.0"

import os as _os

# Large CPU tensors on transparent huge pages (PyTorch reads this once, at its first allocation,
# so it is set before anything imports torch). The fused LM head and the attention of a GRPO step
# allocate and free tensors of hundreds of MB many times per micro-batch; on 4 KiB pages each is
# faulted in afresh: measured on a 0.5B step, half the process's CPU time was in the kernel
# (48M page faults in 4 minutes). Set THP_MEM_ALLOC_ENABLE=0 to opt out.
_os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
