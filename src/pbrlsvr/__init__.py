"""pbrlsvr: Pivot-Based Reinforcement Learning with Semantically Verifiable Rewards.

A strong English pivot model writes reference solutions; a multilingual policy answering in
the target language is trained with GRPO on a reward that verifies its answer against the
pivot's reference. See DESIGN.md for the flow and README.md for the commands.
"""

__version__ = "0.1.0"
