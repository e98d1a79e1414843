// placeholder until the module lands; remove when it has files
