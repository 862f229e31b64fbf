"""The built-in algorithms, env backends and executors, as entry points.

setup.py publishes this table verbatim, and the registries read it, so mafac's own parts load
through exactly the path a user's plugin package takes. Adding a built-in is one line here.
Kept free of imports so setup.py can read it without importing mafac.
"""

ENTRY_POINTS = {
    "mafac.mixers": {
        "iql": "mafac.mixers.iql:IQLMixer",
        "vdn": "mafac.mixers.vdn:VDNMixer",
        "qmix": "mafac.mixers.qmix:QMixer",
        "qtran": "mafac.mixers.qtran:QTranMixer",
        "qtran_alt": "mafac.mixers.qtran_alt:QTranAltMixer",
        "qplex": "mafac.mixers.qplex:QPLEXMixer",
        "ow_qmix": "mafac.mixers.wqmix:OWQMixer",
        "cw_qmix": "mafac.mixers.wqmix:CWQMixer",
        "qatten": "mafac.mixers.qatten:QattenMixer",
    },
    "mafac.envs": {
        "smax": "mafac.envs.smax:SMAXEnv",
        "matrix": "mafac.envs.matrix:MatrixEnv",
        "sc2": "mafac.envs.sc2:SC2Env",
        "mpe": "mafac.envs.mpe:MPEEnv",
        "gym": "mafac.envs.gym:GymEnv",
    },
    "mafac.executors": {
        "local": "mafac.benchmark.executors.local:LocalExecutor",
        "ray": "mafac.benchmark.executors.ray:RayExecutor",
    },
}
