"""metarl.evaluation"""
