SELECT url FROM decided WHERE action = 'updated';
