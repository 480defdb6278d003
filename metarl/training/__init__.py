"""metarl.training"""
