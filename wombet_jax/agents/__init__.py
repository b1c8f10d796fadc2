"""The agents of every algorithm: the protocol they share (``protocol``), the table of
algorithms (``registry``), SAC (``sac``, WOMBET's learner) and the baselines of paper sec. 5."""
